package main

import (
	"context"
	"net"
	"testing"
)

func TestBrokerDialerOverrides(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	t.Setenv(dialOverridesEnv, "127.0.0.1:1="+ln.Addr().String())
	dial, err := brokerDialer()
	if err != nil {
		t.Fatal(err)
	}
	c, err := dial(context.Background(), "tcp", "127.0.0.1:1") // port 1: nothing listens there
	if err != nil {
		t.Fatalf("overridden address not redirected: %v", err)
	}
	c.Close()

	for _, bad := range []string{"127.0.0.1:1", "x=127.0.0.1:2", "127.0.0.1:1=y"} {
		t.Setenv(dialOverridesEnv, bad)
		if _, err := brokerDialer(); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
