package fs

// SetSyncHook sets the hook SyncDeferred runs at each of its steps (nil: none) and returns
// a function that restores the previous one. Tests use it to stop a helper process at a
// chosen step before killing it, and to make a step fail as a failing disk would.
func SetSyncHook(h func(step string, n int) error) (restore func()) {
	old := syncHook
	syncHook = h
	return func() { syncHook = old }
}
