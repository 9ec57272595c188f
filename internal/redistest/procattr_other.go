//go:build !linux

package redistest

import "os/exec"

// setProcAttr does nothing here: only Linux can tie the server's life to the test's.
func setProcAttr(*exec.Cmd) {}
