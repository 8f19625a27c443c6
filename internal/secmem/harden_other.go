//go:build !linux && !darwin

package secmem

// harden elsewhere: no core files on the other Unixes. On Windows the
// agent's process object has the default DACL of its user's token, which
// lets the same user read its memory; nothing is changed there yet.
func harden() error { return noCore() }
