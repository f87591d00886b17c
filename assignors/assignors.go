package assignors

import (
	"errors"
	"fmt"

	"github.com/weirmq/weir/sdk"
)

// All returns each built-in assignor: range, roundrobin, sticky,
// cooperative-sticky and uniform.
func All() []sdk.Assignor {
	return []sdk.Assignor{NewRange(), NewRoundRobin(), NewSticky(), NewCooperativeSticky(), NewUniform()}
}

// Register adds every assignor returned by All to r. If r is nil, or any
// built-in's name is already registered, Register returns an error and
// registers none of them.
func Register(r *sdk.Registry) error {
	if r == nil {
		return errors.New("assignors: register built-in assignors: nil registry")
	}
	all := All()
	for _, a := range all {
		if _, ok := r.Assignor(a.Name()); ok {
			return fmt.Errorf("assignors: register built-in assignor %q: name is already registered", a.Name())
		}
	}
	for _, a := range all {
		if err := r.RegisterAssignor(a); err != nil {
			return fmt.Errorf("assignors: register built-in assignors: %w", err)
		}
	}
	return nil
}
