package examples

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/weirmq/weir/examples/internal/weirtest"
)

// TestSDKReadmeFromScratch follows sdk/README.md, the newcomer's guide, in
// an empty directory: it writes the files the README shows, runs the
// commands it shows (with a real weir binary on PATH and a real node), and
// checks the outputs it shows. The README marks what the test uses with
// HTML comments:
//
//	<!-- readme-test: file NAME --> the next code block is the file NAME
//	<!-- readme-test: run -->       run each line of the next block (sh)
//	<!-- readme-test: http -->      the next block is a curl POST; send it
//	<!-- readme-test: output -->    the previous run's output, exactly
//	                                (JSON: the same value)
//
// Two steps differ, because a test has no network and no fixed ports: the
// module is not fetched with `go get` but replaced by this repository
// (go.mod's replace directive), and `weir serve` runs on free ports, found
// by the commands through WEIR_BROKERS and WEIR_HTTP.
func TestSDKReadmeFromScratch(t *testing.T) {
	readme, err := os.ReadFile("../sdk/README.md")
	if err != nil {
		t.Fatal(err)
	}
	steps := parseReadme(t, string(readme))
	if len(steps) < 10 {
		t.Fatalf("found %d readme-test steps in sdk/README.md; did the markers change?", len(steps))
	}

	bin := t.TempDir()
	weir, err := weirtest.BuildWeir(bin)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	gocache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), fmt.Appendf(nil,
		"module example.com/lastbyte\n\ngo 1.26\n\nrequire github.com/weirmq/weir v0.0.0\n\nreplace github.com/weirmq/weir => %s\n", repo), 0o644)
	env := append(os.Environ(),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off",
		"GOCACHE="+strings.TrimSpace(string(gocache)),
		"XDG_CACHE_HOME="+filepath.Join(dir, ".cache"), // weir's plugin cache, not the user's
	)

	var node *weirtest.Node
	var last string // the output of the last run or http step
	for _, st := range steps {
		switch st.kind {
		case "file":
			if err := os.WriteFile(filepath.Join(dir, st.arg), []byte(st.body), 0o644); err != nil {
				t.Fatal(err)
			}
			if st.arg == "weir.toml" {
				// `weir serve --config weir.toml &`, on free ports.
				node = weirtest.StartIn(t, weir, dir, st.body)
				env = append(env, "WEIR_BROKERS="+node.Kafka, "WEIR_HTTP="+node.HTTP)
			}
		case "run":
			last = ""
			for line := range strings.Lines(st.body) {
				if line = strings.TrimSpace(line); line == "" {
					continue
				}
				c := exec.Command("sh", "-c", line)
				c.Dir, c.Env = dir, env
				var stdout, stderr bytes.Buffer
				c.Stdout, c.Stderr = &stdout, &stderr
				if err := c.Run(); err != nil {
					t.Fatalf("README step %q: %v\nstdout:\n%s\nstderr:\n%s", line, err, stdout.String(), stderr.String())
				}
				last += stdout.String()
			}
		case "http":
			if node == nil {
				t.Fatal("README sends HTTP before starting weir")
			}
			last = curlPost(t, node.HTTP, st.body)
		case "output":
			if strings.HasPrefix(strings.TrimSpace(st.body), "{") {
				var want, got any
				if err := json.Unmarshal([]byte(st.body), &want); err != nil {
					t.Fatalf("README output block is not JSON: %v", err)
				}
				if err := json.Unmarshal([]byte(last), &got); err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("README says the answer is\n%s\ngot\n%s", st.body, last)
				}
				continue
			}
			if normalize(last) != normalize(st.body) {
				t.Errorf("README says the output is\n%s\ngot\n%s", st.body, last)
			}
		}
	}
	if node == nil {
		t.Fatal("the README never configured weir")
	}

	// What the README promises, checked on the node: records placed by
	// their key's last byte, from both producers.
	got := map[string]int32{}
	for _, r := range node.ConsumeAll(t, "clicks", 4) {
		got[string(r.Key)] = r.Partition
	}
	for key, want := range map[string]int32{"user-1": 1, "user-3": 3, "user-6": 2, "user-7": 3} {
		if p, ok := got[key]; !ok || p != want {
			t.Errorf("%s on partition %d (found %v), want %d", key, p, ok, want)
		}
	}
	if !strings.Contains(last, "last-byte  partitioner  wasm    closed   1") {
		t.Errorf("weir plugin list after the reload:\n%s", last)
	}
}

// step is one marked part of the README.
type step struct {
	kind, arg, body string
}

var (
	markerRE = regexp.MustCompile(`(?m)^<!-- readme-test: (\w+) ?(\S*) -->\n` + "```" + `[a-z]*\n((?s:.*?))` + "```")
	curlRE   = regexp.MustCompile(`curl -s \S+?(/v1/\S+) -d '([^']*)'`)
)

func parseReadme(t *testing.T, readme string) []step {
	t.Helper()
	var out []step
	for _, m := range markerRE.FindAllStringSubmatch(readme, -1) {
		out = append(out, step{kind: m[1], arg: m[2], body: m[3]})
	}
	return out
}

// curlPost sends what a README curl line sends and returns the answer.
func curlPost(t *testing.T, httpAddr, line string) string {
	t.Helper()
	m := curlRE.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("README http step is not `curl -s HOST/v1/... -d '...'`: %s", line)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+httpAddr+m[1], strings.NewReader(m[2]))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// normalize drops trailing spaces and blank lines, which the README's
// rendering does not show.
func normalize(s string) string {
	var lines []string
	for line := range strings.Lines(s) {
		if line = strings.TrimRight(line, " \t\r\n"); line != "" {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "\n")
}
