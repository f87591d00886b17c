package core

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyRule holds ARCHITECTURE §1: core never imports the concrete
// extension packages, and sdk (the contract plugin authors build against)
// imports nothing of Weir's but itself.
func TestDependencyRule(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "github.com/weirmq/weir/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/weirmq/weir/"
	forbidden := map[string][]string{
		mod + "core":     {mod + "plugins", mod + "partitioners", mod + "assignors", mod + "codecs", mod + "cmd"},
		mod + "sdk":      {mod + "core", mod + "plugins", mod + "partitioners", mod + "assignors", mod + "codecs", mod + "cmd"},
		mod + "codecs":   {mod + "core", mod + "plugins", mod + "cmd"},
		mod + "plugins":  {mod + "cmd"},
		mod + "examples": {mod + "core"},
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, imports := fields[0], fields[1:]
		for prefix, bad := range forbidden {
			if pkg != prefix && !strings.HasPrefix(pkg, prefix+"/") {
				continue
			}
			checked++
			for _, imp := range imports {
				for _, b := range bad {
					if imp == b || strings.HasPrefix(imp, b+"/") {
						t.Errorf("%s imports %s: the dependency rule forbids it", pkg, imp)
					}
				}
			}
		}
	}
	if checked < 4 {
		t.Fatalf("checked only %d packages; is go list seeing the module?", checked)
	}
}
