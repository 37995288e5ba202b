//go:build linux || darwin

package journal

import "syscall"

// freeSpace is the room left on dir's volume, for the bridge's user.
func freeSpace(dir string) (uint64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return uint64(st.Bavail) * uint64(st.Bsize), true
}
