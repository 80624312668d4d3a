package execinit

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gonest/gonest/vmexec/job"
)

func TestPlanRoot(t *testing.T) {
	j := job.Job{
		Root: job.Root{Tag: job.TagRoot, Transport: job.TransportVirtioFS,
			Submounts: []string{"/boot", "/home", "/home/u/my disk", "/tmp"}},
		Shares: []job.Share{{Tag: "gonest.rw0", Path: "/home/u/src/pkg"}, {Tag: "gonest.rw1", Path: "/tmp/out"},
			{Tag: "gonest.rw2", Path: "/tmp/out/sub"}},
	}
	got := planRoot(j)
	type view struct {
		kind   stepKind
		path   string
		target string
		lower  string
		opaque []string
	}
	var views []view
	for _, s := range got {
		views = append(views, view{s.kind, s.path, s.target, s.lower, s.opaque})
	}
	assert.Equal(t, []view{
		{stepOverlay, "/", "/run/gonest/root", "/run/gonest/host", []string{"boot", "dev", "home", "proc", "sys", "tmp"}},
		{stepOverlay, "/boot", "/run/gonest/root/boot", "/run/gonest/host/boot", nil},
		{stepOverlay, "/home", "/run/gonest/root/home", "/run/gonest/host/home", []string{"u/my disk", "u/src/pkg"}},
		{stepOverlay, "/home/u/my disk", "/run/gonest/root/home/u/my disk", "/run/gonest/host/home/u/my disk", nil},
		{stepShare, "/home/u/src/pkg", "/run/gonest/root/home/u/src/pkg", "", nil},
		{stepOverlay, "/tmp", "/run/gonest/root/tmp", "/run/gonest/host/tmp", []string{"out"}},
		{stepShare, "/tmp/out", "/run/gonest/root/tmp/out", "", nil},
		{stepShare, "/tmp/out/sub", "/run/gonest/root/tmp/out/sub", "", nil},
	}, views, "parents first; every mount point below an overlay is opaque in it, none inside a share")
	assert.False(t, got[4].ninep)
	for _, s := range got {
		if s.kind == stepOverlay {
			assert.NotEqual(t, s.upper, s.work)
			assert.Contains(t, s.upper, layersDir)
		}
	}
	assert.Equal(t, "gonest.rw2", got[7].tag)
}

func TestPlanRootAlone(t *testing.T) {
	got := planRoot(job.Job{Root: job.Root{Tag: job.TagRoot, Transport: job.Transport9P}, Shares: []job.Share{{Tag: "gonest.rw0", Path: "/w"}}})
	if assert.Len(t, got, 2) {
		assert.True(t, got[1].ninep, "shares come over the root's transport")
		assert.Equal(t, []string{"dev", "proc", "sys", "w"}, got[0].opaque)
		assert.Equal(t, "lowerdir=/run/gonest/host,upperdir=/run/gonest/ovl/0/upper,workdir=/run/gonest/ovl/0/work", got[0].options())
	}
}

func TestOverlayOptionsEscape(t *testing.T) {
	s := step{lower: `/h/a,b:c\d`, upper: "/u", work: "/w"}
	assert.Equal(t, `lowerdir=/h/a\,b\:c\\d,upperdir=/u,workdir=/w`, s.options())
}

func TestParseLoadList(t *testing.T) {
	got, err := parseLoadList([]byte("base virtio kernel/drivers/virtio/virtio.ko\nbase? crc32c kernel/crypto/crc32c.ko.zst\n\nkvm kvm_amd kernel/arch/x86/kvm/kvm-amd.ko\n"))
	assert.NoError(t, err)
	assert.Equal(t, []loadEntry{
		{group: "base", name: "virtio", path: "kernel/drivers/virtio/virtio.ko"},
		{group: "base", name: "crc32c", path: "kernel/crypto/crc32c.ko.zst", optional: true},
		{group: "kvm", name: "kvm_amd", path: "kernel/arch/x86/kvm/kvm-amd.ko"},
	}, got)
	for _, bad := range []string{"base virtio\n", "odd virtio v.ko\n", "base x /etc/passwd\n", "base x ../../x.ko\n", "base x a/../../b.ko\n"} {
		_, err := parseLoadList([]byte(bad))
		assert.Error(t, err, "%q", bad)
	}
}
