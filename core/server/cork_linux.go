package server

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// setCork turns TCP_CORK on or off: while corked, the kernel holds partial
// frames, so a fetch response's header and its sendfile'd records leave as
// full segments and the client wakes once per response rather than once
// for the header and again for the records.
func setCork(rc syscall.RawConn, on bool) {
	v := 0
	if on {
		v = 1
	}
	rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_CORK, v) })
}
