// Package assignors will hold the built-in consumer-group assignors —
// range, roundrobin, sticky, cooperative-sticky and uniform — each an
// sdk.Assignor used by the group coordinator for KIP-848 groups and for
// classic groups that opt in to server-side assignment. Empty until the
// consumer-groups issue lands.
package assignors
