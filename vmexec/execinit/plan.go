package execinit

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/gonest/gonest/vmexec/job"
)

// Where the init builds the command's root, inside the initramfs.
const (
	hostDir    = "/run/gonest/host" // the root share, read-only
	layersDir  = "/run/gonest/ovl"  // a tmpfs: each overlay's upper and work directories
	newRootDir = "/run/gonest/root" // the command's root, moved onto / at the end
)

// ownMounts are the guest's own file systems in the new root: never the
// host's.
var ownMounts = []string{"/proc", "/sys", "/dev"}

// ninePOptions mount QEMU's 9p share as lmb/vimto does (cache=mmap keeps
// mmap working), with 1 MiB messages.
const ninePOptions = "trans=virtio,version=9p2000.L,access=any,msize=1048576,cache=mmap"

// stepKind says what a step of the plan mounts.
type stepKind int

const (
	stepOverlay stepKind = iota + 1 // a tmpfs-backed overlay over the host's read-only files
	stepShare                       // a writable host directory, straight over virtio-fs
)

// step is one mount of the command's root, in order: parents first.
type step struct {
	kind   stepKind
	path   string // where the command sees it ("/", "/tmp", "/home/u/src")
	target string // where it is mounted: newRootDir + path
	tag    string // stepShare: the share's tag
	// ninep: the share comes over QEMU's 9p (the root's transport), not
	// virtio-fs.
	ninep bool

	// An overlay's layers.
	lower, upper, work string
	// opaque are directories (relative to the overlay's root) to create
	// in its upper layer and mark opaque before it is mounted: the mount
	// points of the host below it, which overlayfs would refuse to cross
	// (EREMOTE), and the places where the guest mounts something of its
	// own or a writable share.
	opaque []string
}

// options is the overlay's mount data, with '\', ',' and ':' escaped as
// overlayfs reads them (fs/overlayfs/super.c: ovl_next_opt, ovl_unescape).
func (s step) options() string {
	esc := func(p string) string {
		r := strings.NewReplacer(`\`, `\\`, `,`, `\,`, `:`, `\:`)
		return r.Replace(p)
	}
	return fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", esc(s.lower), esc(s.upper), esc(s.work))
}

// planRoot turns a job's root and shares into mount steps, in the order
// they must happen.
func planRoot(j job.Job) []step {
	var steps []step
	points := append([]string{"/"}, j.Root.Submounts...)
	for i, p := range points {
		steps = append(steps, step{
			kind: stepOverlay, path: p, target: joinRoot(newRootDir, p),
			lower: joinRoot(hostDir, p),
			upper: path.Join(layersDir, fmt.Sprint(i), "upper"),
			work:  path.Join(layersDir, fmt.Sprint(i), "work"),
		})
	}
	for _, s := range j.Shares {
		steps = append(steps, step{kind: stepShare, path: s.Path, target: joinRoot(newRootDir, s.Path), tag: s.Tag,
			ninep: j.Root.Transport == job.Transport9P})
	}
	sort.SliceStable(steps, func(a, b int) bool { return steps[a].path < steps[b].path })
	// Everything mounted over the root's tree is made opaque in the
	// overlay it lies in, unless a share holds it (a share crosses the
	// host's mount points itself).
	var holes []string
	holes = append(holes, ownMounts...)
	for _, s := range steps {
		if s.path != "/" {
			holes = append(holes, s.path)
		}
	}
	for _, h := range holes {
		i := container(steps, h)
		if i < 0 || steps[i].kind != stepOverlay {
			continue
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(h, steps[i].path), "/")
		steps[i].opaque = append(steps[i].opaque, rel)
	}
	for i := range steps {
		sort.Strings(steps[i].opaque)
	}
	return steps
}

// container is the index of the step whose path is the nearest proper
// ancestor of p, or -1.
func container(steps []step, p string) int {
	best := -1
	for i, s := range steps {
		if s.path == p || !isBelow(p, s.path) {
			continue
		}
		if best < 0 || len(s.path) > len(steps[best].path) {
			best = i
		}
	}
	return best
}

// isBelow reports whether p lies strictly below dir.
func isBelow(p, dir string) bool {
	if dir == "/" {
		return p != "/"
	}
	return strings.HasPrefix(p, dir+"/")
}

// joinRoot places an absolute guest path under root.
func joinRoot(root, p string) string {
	if p == "/" {
		return root
	}
	return root + p
}
