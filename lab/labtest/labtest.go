package labtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gonest/gonest/lab"
)

// Environment variables read by Images.
const (
	ImagesEnv  = "GONEST_IMAGES"      // directory holding the built images
	RequireEnv = "GONEST_REQUIRE_LAB" // "1": missing images fail the test
)

// File names inside the images directory, as images/images.mk writes them.
const (
	KernelFile = "vmlinuz"      // the Debian bzImage every level boots
	HInitrd    = "h.cpio.gz"    // lab host H: modules, gonest, tests
	G1Initrd   = "g1.cpio.gz"   // G1: modules, gonest, tests
	G2Initrd   = "g2.cpio.gz"   // G2: gonest-init alone
	DiskFile   = "disk.ext4"    // ext4 image for virtio-blk scenarios
	VMLinux    = "vmlinux"      // uncompressed ELF kernel (PVH entry)
	HNextDisk  = "h-next.ext4"  // H's next-level images: G1's kernel, initrd and G1NextDisk (lab.Config.NextImages)
	G1NextDisk = "g1-next.ext4" // G1's next-level images: G2's kernel and initrd (for gonest run -disk in G1)
	HNextCPIO  = "h-next.cpio"  // the Intel lab's H-next: G1's images as a second initrd (lab.BochsConfig.NextImages)
)

// Set is the absolute paths of the built lab images.
type Set struct {
	Dir, Kernel, H, G1, G2, Disk, VMLinux string
	HNext, G1Next                         string // next-level images disks (HNextDisk, G1NextDisk)
	HNextCPIO                             string // set by FindIntel: HNextCPIO
}

// Find returns the images in dir, or an error naming what is missing.
func Find(dir string) (Set, error) {
	img, err := findImages(dir)
	if err != nil {
		return Set{}, err
	}
	if _, err := exec.LookPath(lab.DefaultQEMU); err != nil {
		return Set{}, fmt.Errorf("QEMU missing: %w", err)
	}
	return img, nil
}

// findImages returns the images both labs boot in dir.
func findImages(dir string) (Set, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Set{}, err
	}
	img := Set{
		Dir:     abs,
		Kernel:  filepath.Join(abs, KernelFile),
		H:       filepath.Join(abs, HInitrd),
		G1:      filepath.Join(abs, G1Initrd),
		G2:      filepath.Join(abs, G2Initrd),
		Disk:    filepath.Join(abs, DiskFile),
		VMLinux: filepath.Join(abs, VMLinux),
		HNext:   filepath.Join(abs, HNextDisk),
		G1Next:  filepath.Join(abs, G1NextDisk),
	}
	for _, f := range []string{img.Kernel, img.H, img.G1, img.G2, img.Disk, img.HNext, img.G1Next} {
		if _, err := os.Stat(f); err != nil {
			return Set{}, fmt.Errorf("lab image missing: %w", err)
		}
	}
	return img, nil
}

// Images returns the built images, or ends the test: a skip with the
// reason, or a failure under GONEST_REQUIRE_LAB=1.
func Images(t testing.TB) Set {
	t.Helper()
	dir := os.Getenv(ImagesEnv)
	if dir == "" {
		unavailable(t, ImagesEnv+" is not set")
	}
	img, err := Find(dir)
	if err != nil {
		unavailable(t, err.Error())
	}
	return img
}

func unavailable(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("lab required (%s=1) but unavailable: %s", RequireEnv, reason)
	}
	t.Skipf("skipping lab test: %s; `make lab-test` builds the images, installs QEMU and runs the lab tests", reason)
}

// FindIntel returns the images the Intel lab boots in dir, or an error
// naming what is missing: the images, h-next.cpio (make intel-images) or a
// Debian package of the lab (Bochs and the CD tools).
func FindIntel(dir string) (Set, error) {
	img, err := findImages(dir)
	if err != nil {
		return Set{}, err
	}
	img.HNextCPIO = filepath.Join(img.Dir, HNextCPIO)
	if _, err := os.Stat(img.HNextCPIO); err != nil {
		return Set{}, fmt.Errorf("lab image missing: %w (make intel-images builds it)", err)
	}
	if err := lab.CheckBochsPackages(""); err != nil {
		return Set{}, err
	}
	return img, nil
}

// IntelImages is Images for the Intel lab (FindIntel).
func IntelImages(t testing.TB) Set {
	t.Helper()
	dir := os.Getenv(ImagesEnv)
	if dir == "" {
		unavailable(t, ImagesEnv+" is not set")
	}
	img, err := FindIntel(dir)
	if err != nil {
		unavailable(t, err.Error())
	}
	return img
}
