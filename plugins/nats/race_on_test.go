//go:build race

package nats

// raceEnabled: the race detector slows the bridge about fivefold, so the
// largest test publishes fewer messages by default.
const raceEnabled = true
