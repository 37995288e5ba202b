//go:build unix

package journal

import (
	"os"
	"syscall"
)

// fileBlocks is how many 512-byte blocks fi's file holds.
func fileBlocks(fi os.FileInfo) int64 { return fi.Sys().(*syscall.Stat_t).Blocks }
