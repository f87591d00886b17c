package wasm

import "errors"

// Errors the host returns, wrapped with the plugin's name and the details.
// Test for them with errors.Is.
var (
	// ErrClosed: the Module was closed.
	ErrClosed = errors.New("plugin closed")

	// ErrBadModule: the module cannot be used — it does not compile,
	// lacks a required export, imports something the host does not
	// provide, speaks another ABI version, or refused its configuration.
	// Open and Reload return it; after a failed Reload the old module
	// stays in use.
	ErrBadModule = errors.New("unusable WASM module")

	// ErrNoHook: the module (after a Reload, perhaps) does not export the
	// hook for this extension point.
	ErrNoHook = errors.New("module does not implement this hook")

	// ErrInstanceFailed: the instance trapped, exited (a Go guest's
	// panic or out-of-memory ends in an exit), hit its memory limit or
	// its deadline. The instance was discarded.
	ErrInstanceFailed = errors.New("plugin instance failed")

	// ErrTimeout, wrapped together with ErrInstanceFailed: the call ran
	// past Options.CallTimeout.
	ErrTimeout = errors.New("plugin call timed out")

	// ErrMalformed: the guest's answer broke the ABI (a length or address
	// outside its memory, a wrong count, bytes that do not decode). The
	// instance was discarded.
	ErrMalformed = errors.New("malformed plugin answer")

	// ErrGuest: the guest reported an error through the ABI; the message
	// is its own. The instance was kept.
	ErrGuest = errors.New("plugin returned an error")

	// ErrTooLarge: the call's input does not fit the instance's memory
	// limit. Nothing was called.
	ErrTooLarge = errors.New("plugin input too large")
)
