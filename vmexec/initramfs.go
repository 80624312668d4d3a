package vmexec

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/images/cpio"
	"github.com/gonest/gonest/vmexec/job"
)

// initramfsFormat changes whenever what Build writes changes, so that an
// older gonest's cached archive is never reused.
const initramfsFormat = "gonest-exec-initramfs 2"

// InitPath is where the guest init sits in the initramfs: the kernel runs
// it as PID 1, and gonest knows itself as the exec init by that name.
const InitPath = "/init"

// initramfs is what goes into the guest's initramfs: gonest itself as
// /init, and the kernel modules the init loads. Nothing else: the
// command's world comes from the host over virtio-fs.
type initramfs struct {
	init string // a statically linked gonest
	mods *moduleSet
}

// member is one file of the archive: from a host file, or from bytes.
type member struct {
	name string
	perm uint32
	src  string // host file; "" when data is set
	data []byte
}

func (ir *initramfs) members() []member {
	dir := path.Join(guestabi.ModulesRoot, ir.mods.release)
	ms := []member{{name: InitPath, perm: 0o755, src: ir.init}}
	for _, f := range ir.mods.files {
		ms = append(ms, member{name: path.Join(dir, f), perm: 0o644, src: filepath.Join(ir.mods.dir, filepath.FromSlash(f))})
	}
	ms = append(ms,
		member{name: path.Join(dir, job.ModuleList), perm: 0o644, data: ir.mods.list},
		member{name: path.Join(dir, "modules.builtin"), perm: 0o644, data: ir.mods.builtin})
	return ms
}

// write writes the archive, uncompressed: the kernel copies an
// uncompressed archive into its page cache with no decompressor to run,
// which on a nested guest (each instruction costs more the deeper it
// runs) is the cheaper way.
func (ir *initramfs) write(w io.Writer) error {
	cw := cpio.NewWriter(w)
	for _, d := range []string{"dev", "proc", "sys", "tmp", "run", "lib/modules"} {
		if err := cw.Dir(d, 0o755); err != nil {
			return err
		}
	}
	// The kernel opens /dev/console for init's stdin, stdout and stderr
	// before devtmpfs is mounted (init/main.c, console_on_rootfs).
	if err := cw.CharDev("dev/console", 0o600, 5, 1); err != nil {
		return err
	}
	for _, m := range ir.members() {
		if m.src == "" {
			if err := cw.File(m.name, m.perm, m.data); err != nil {
				return err
			}
			continue
		}
		if err := addFile(cw, m); err != nil {
			return err
		}
	}
	return cw.Close()
}

func addFile(cw *cpio.Writer, m member) error {
	f, err := os.Open(m.src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := cw.FileFrom(m.name, m.perm, st.Size(), f); err != nil {
		return fmt.Errorf("initramfs: %s: %w", m.src, err)
	}
	return nil
}

// key is the archive's content hash: the format, the release, and each
// member's name, mode and content (host files through hashes).
func (ir *initramfs) key(hashes *hashCache) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", initramfsFormat, ir.mods.release)
	for _, m := range ir.members() {
		sum := sha256.Sum256(m.data)
		digest := hex.EncodeToString(sum[:])
		if m.src != "" {
			var err error
			if digest, err = hashes.file(m.src); err != nil {
				return "", fmt.Errorf("initramfs: %w", err)
			}
		}
		fmt.Fprintf(h, "%s %o %s\n", m.name, m.perm, digest)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkStatic refuses an init that needs a dynamic loader: the initramfs
// holds no libraries, so the kernel could not start it.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("gonest binary %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return usagef("gonest exec needs a statically linked gonest to boot as the guest's init, and %s is dynamically linked; build it with CGO_ENABLED=0 go build ./cmd/gonest", path)
		}
	}
	return nil
}

// buildCached returns the path of the archive for ir in dir, writing it
// the first time: a name from its content hash, written to a temporary
// file and renamed, so concurrent runs (go test -exec runs packages in
// parallel) never see half an archive.
func (ir *initramfs) buildCached(dir string) (string, bool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", false, fmt.Errorf("initramfs cache: %w", err)
	}
	hashes := &hashCache{dir: filepath.Join(dir, "hashes")}
	key, err := ir.key(hashes)
	if err != nil {
		return "", false, err
	}
	name := filepath.Join(dir, "initramfs-"+key[:32]+".cpio")
	if st, err := os.Stat(name); err == nil && st.Mode().IsRegular() {
		touch(name)
		return name, true, nil
	}
	tmp, err := os.CreateTemp(dir, ".initramfs-*")
	if err != nil {
		return "", false, fmt.Errorf("initramfs cache: %w", err)
	}
	werr := ir.write(tmp)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), name)
	}
	if werr != nil {
		_ = os.Remove(tmp.Name())
		return "", false, fmt.Errorf("initramfs cache: %w", werr)
	}
	pruneCache(dir, name)
	return name, false, nil
}
