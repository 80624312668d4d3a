package vmexec

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// CacheDir is where gonest exec keeps its initramfs archives:
// $XDG_CACHE_HOME/gonest, else ~/.cache/gonest, else a directory of this
// user's in the temporary directory.
func CacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "gonest")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("gonest-cache-%d", os.Getuid()))
}

// keepArchives is how many initramfs archives the cache keeps: one per
// gonest build and kernel in use, the least recently used pruned first.
const keepArchives = 8

// hashCache remembers each file's SHA-256 by its identity (device, inode,
// size, modification and change times), so that a warm run reads no file
// to know its archive is current: a changed file changes its ctime.
type hashCache struct{ dir string }

func (c *hashCache) file(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return hashFile(path)
	}
	id := fmt.Sprintf("%d %d %d %d.%d %d.%d", sys.Dev, sys.Ino, sys.Size, sys.Mtim.Sec, sys.Mtim.Nsec, sys.Ctim.Sec, sys.Ctim.Nsec)
	pathSum := sha256.Sum256([]byte(path))
	memo := filepath.Join(c.dir, hex.EncodeToString(pathSum[:16]))
	if b, err := os.ReadFile(memo); err == nil {
		if got, sum, ok := strings.Cut(strings.TrimSpace(string(b)), "\n"); ok && got == id && len(sum) == 64 {
			return sum, nil
		}
	}
	sum, err := hashFile(path)
	if err != nil {
		return "", err
	}
	// A memo that cannot be written costs a hash next time, nothing else.
	if os.MkdirAll(c.dir, 0o700) == nil {
		if tmp, err := os.CreateTemp(c.dir, ".memo-*"); err == nil {
			_, werr := fmt.Fprintf(tmp, "%s\n%s\n", id, sum)
			if tmp.Close() == nil && werr == nil {
				_ = os.Rename(tmp.Name(), memo)
			}
			_ = os.Remove(tmp.Name())
		}
	}
	return sum, nil
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// touch marks an archive as just used, for pruneCache.
func touch(path string) {
	now := time.Now()
	_ = os.Chtimes(path, now, now)
}

// pruneCache removes the least recently used archives beyond
// keepArchives, never keep itself.
func pruneCache(dir, keep string) {
	names, _ := filepath.Glob(filepath.Join(dir, "initramfs-*.cpio"))
	type aged struct {
		name string
		mod  time.Time
	}
	var all []aged
	for _, n := range names {
		if st, err := os.Stat(n); err == nil && n != keep {
			all = append(all, aged{n, st.ModTime()})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].mod.After(all[j].mod) })
	for i := keepArchives - 1; i < len(all); i++ {
		_ = os.Remove(all[i].name)
	}
}
