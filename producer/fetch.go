package producer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/weirmq/weir/partitioners"
	"github.com/weirmq/weir/plugins/fallback"
	"github.com/weirmq/weir/plugins/wasm"
	"github.com/weirmq/weir/sdk"
)

// FetchOptions configure FetchPartitioner.
type FetchOptions struct {
	HTTPClient *http.Client // nil: http.DefaultClient
	Logger     *slog.Logger // nil: slog.Default(); the WASM module's log lines and fallbacks
	// MaxModuleBytes bounds the answer; 0 means 64 MiB.
	MaxModuleBytes int64
	// CacheDir is a WASM compilation cache; "" compiles the module at
	// every fetch (seconds for a Go module).
	CacheDir string
}

// Fetched is a topic's partitioner, fetched from a broker by
// FetchPartitioner, ready to run in this process.
type Fetched struct {
	Info PartitionerInfo // what the broker said (Module cleared)
	// Partitioner places records as the broker's partitioner does. A WASM
	// plugin's calls that fail fall back to murmur2, as on the broker.
	Partitioner sdk.Partitioner
	module      *wasm.Module
}

// Close releases the WASM module, if any. The Partitioner must not be
// used after.
func (f *Fetched) Close(ctx context.Context) error {
	if f.module == nil {
		return nil
	}
	return f.module.Close(ctx)
}

// FetchPartitioner asks the broker whose HTTP listener is at httpAddr
// ("host:port" or a URL) which partitioner topic uses, and returns it
// ready to run here: a built-in from the partitioners package, or a WASM
// plugin's module, checked against its SHA-256 and loaded with
// plugins/wasm.OpenBytes with the plugin's [plugins.config] as the broker
// has it. Use
// Partitioner(f.Partitioner) with kgo.RecordPartitioner, or Place, to
// produce as the broker's producers do.
//
// A partitioner that runs as a go-plugin command cannot run outside the
// broker: FetchPartitioner returns an error saying so, as it does when the
// broker cannot be reached, does not know the topic, or sends a module
// that does not load. The caller must Close the result.
func FetchPartitioner(ctx context.Context, httpAddr, topic string, opts FetchOptions) (*Fetched, error) {
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxModuleBytes <= 0 {
		opts.MaxModuleBytes = 64 << 20
	}
	base := httpAddr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u := strings.TrimRight(base, "/") + "/v1/topics/" + url.PathEscape(topic) + "/partitioner"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("producer: fetching the partitioner of %q: %w", topic, err)
	}
	resp, err := opts.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("producer: fetching the partitioner of %q from %s: %w", topic, httpAddr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, opts.MaxModuleBytes*2))
	if err != nil {
		return nil, fmt.Errorf("producer: fetching the partitioner of %q from %s: %w", topic, httpAddr, err)
	}
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
			return nil, fmt.Errorf("producer: fetching the partitioner of %q from %s: %s: %s", topic, httpAddr, resp.Status, eb.Error)
		}
		return nil, fmt.Errorf("producer: fetching the partitioner of %q from %s: %s", topic, httpAddr, resp.Status)
	}
	var info PartitionerInfo
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // config integers reach the module exactly as the broker's copy has them
	if err := dec.Decode(&info); err != nil {
		return nil, fmt.Errorf("producer: the partitioner of %q from %s: malformed answer: %w", topic, httpAddr, err)
	}
	module := info.Module
	info.Module = nil
	switch info.Source {
	case SourceBuiltin:
		p, ok := builtin(info.Partitioner)
		if !ok {
			return nil, fmt.Errorf("producer: topic %q uses built-in partitioner %q, which this version of Weir's Go helper does not have", topic, info.Partitioner)
		}
		return &Fetched{Info: info, Partitioner: p}, nil
	case SourceCommand:
		return nil, fmt.Errorf("producer: topic %q uses partitioner %q, a go-plugin command that runs only inside the broker; produce through the broker's HTTP endpoint or `weir produce`, or make the plugin a WASM module", topic, info.Partitioner)
	case SourceWASM:
	default:
		return nil, fmt.Errorf("producer: topic %q: partitioner %q has unknown source %q", topic, info.Partitioner, info.Source)
	}
	if len(module) == 0 {
		return nil, fmt.Errorf("producer: topic %q: the broker sent no module for WASM partitioner %q", topic, info.Partitioner)
	}
	sum := sha256.Sum256(module)
	if got := hex.EncodeToString(sum[:]); got != info.ModuleSHA256 {
		return nil, fmt.Errorf("producer: topic %q: the module of %q does not match its checksum (%s, want %s)", topic, info.Partitioner, got, info.ModuleSHA256)
	}
	m, err := wasm.OpenBytes(ctx, module, wasm.Options{Name: info.Partitioner, Config: info.Config, CacheDir: opts.CacheDir, Logger: opts.Logger})
	if err != nil {
		return nil, fmt.Errorf("producer: loading WASM partitioner %q of topic %q: %w", info.Partitioner, topic, err)
	}
	p, ok := m.Partitioner()
	if !ok {
		m.Close(ctx)
		return nil, fmt.Errorf("producer: WASM module %q of topic %q exports no partitioner (it serves %v)", info.Partitioner, topic, m.Kinds())
	}
	wrapped := fallback.Partitioner(p, partitioners.Murmur2(), fallback.Options{Logger: opts.Logger})
	return &Fetched{Info: info, Partitioner: wrapped, module: m}, nil
}

// builtin returns the built-in partitioner called name.
func builtin(name string) (sdk.Partitioner, bool) {
	reg := sdk.NewRegistry()
	if err := partitioners.Register(reg); err != nil {
		return nil, false
	}
	return reg.Partitioner(name)
}

// IsBuiltin reports whether name is a built-in partitioner ("murmur2",
// "roundrobin", "uniform-sticky").
func IsBuiltin(name string) bool {
	_, ok := builtin(name)
	return ok
}
