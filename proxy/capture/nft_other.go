//go:build !linux

package capture

import "errors"

// errNotLinux is what the rule engine says where there is no nftables.
var errNotLinux = errors.New("capture rules need Linux nftables")

// Install needs Linux; see nft_linux.go.
func Install(Config) error { return errNotLinux }

// Cleanup needs Linux; see nft_linux.go.
func Cleanup() error { return errNotLinux }

// Installed needs Linux; see nft_linux.go.
func Installed() (bool, error) { return false, errNotLinux }

// Check needs Linux; see check_linux.go.
func Check(Config) error { return errNotLinux }
