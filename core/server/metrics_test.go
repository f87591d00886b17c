package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestHTTPListenerServesMetricsAndHealth(t *testing.T) {
	tb := startBroker(t, "", "")
	var ready atomic.Bool
	h, err := ServeHTTP("127.0.0.1:0", tb.metrics, ready.Load, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	base := "http://" + h.Addr().String()
	if code, _ := httpGet(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz %d", code)
	}
	if code, _ := httpGet(t, base+"/readyz"); code != 503 {
		t.Fatalf("/readyz %d before ready, want 503", code)
	}
	ready.Store(true)
	if code, _ := httpGet(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz %d when ready", code)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := tb.client(kgo.AllowAutoTopicCreation(), kgo.ConsumeTopics("m"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for i := 0; i < 3; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "m", Value: make([]byte, 1000)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for n := 0; n < 3; {
		n += cl.PollFetches(ctx).NumRecords()
		if ctx.Err() != nil {
			t.Fatal("consume timed out")
		}
	}
	_, body := httpGet(t, base+"/metrics")
	for _, want := range []string{
		`weir_requests_total{api="Produce"}`,
		`weir_request_duration_seconds_bucket{api="Fetch"`,
		`weir_partition_log_end_offset{partition="0",topic="m"} 3`,
		`weir_partition_high_watermark{partition="0",topic="m"} 3`,
		`weir_produced_bytes_total{topic="m"}`,
		"weir_connections ",
		"weir_sendfile_bytes_total ",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The fetch above went out over TCP with sendfile.
	if strings.Contains(body, "weir_sendfile_bytes_total 0\n") {
		t.Error("no bytes counted as sent with sendfile")
	}
}
