package initkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ATA disks (gonest's IDE controller, Linux's ata_piix) are SCSI disks
// to Linux: libata translates, and /dev/sdX is the disk. Their serial is
// the IDENTIFY DEVICE serial, which libata returns as the SCSI unit
// serial number page, VPD page 80h (drivers/ata/libata-scsi.c,
// ata_scsiop_inq_80): a 4-byte header, then the 20 characters of
// IDENTIFY words 10-19, padded with spaces. The SCSI layer shows the page
// as /sys/block/sdX/device/vpd_pg80.

// vpdSerialPage is the page code of the unit serial number page.
const vpdSerialPage = 0x80

// VPDSerial returns the serial a vpd_pg80 file holds; ok is false for a
// page too short, of another page code, or whose length runs past it.
func VPDSerial(page []byte) (string, bool) {
	if len(page) < 4 || page[1] != vpdSerialPage {
		return "", false
	}
	n := int(page[2])<<8 | int(page[3])
	if 4+n > len(page) {
		return "", false
	}
	return string(bytes.Trim(page[4:4+n], " \x00")), true
}

// FindATADiskBySerial looks through sysBlock (/sys/block) for an sd* disk
// whose VPD serial is serial.
func FindATADiskBySerial(sysBlock, serial string) (string, bool) {
	return ataDisks.find(sysBlock, serial)
}

// ListATADisks says which sd* disks exist and their serials, for an error.
func ListATADisks(sysBlock string) string { return ataDisks.list(sysBlock) }

// ataDisks are ATA disks: the serial is in the VPD page 0x80 that libata
// builds from IDENTIFY (/sys/block/sdX/device/vpd_pg80).
var ataDisks = diskBus{glob: "sd*", unknown: "?", serial: func(dir string) (string, bool) {
	page, err := os.ReadFile(filepath.Join(dir, "device", "vpd_pg80"))
	if err != nil {
		return "", false
	}
	return VPDSerial(page)
}}

// ATADiskBySerial waits up to wait for the ATA disk whose serial is
// serial and returns its /dev path. Load ata_piix and sd_mod first: ATA
// disks are probed asynchronously once the driver binds.
func ATADiskBySerial(ctx context.Context, serial string, wait time.Duration) (string, error) {
	var dev string
	err := poll(ctx, wait, func() (bool, error) {
		var ok bool
		dev, ok = FindATADiskBySerial("/sys/block", serial)
		return ok, nil
	})
	if errors.Is(err, errWaited) {
		return "", fmt.Errorf("no ATA disk with serial %q within %v (disks: %s); are ata_piix and sd_mod loaded?",
			serial, wait, ListATADisks("/sys/block"))
	}
	return dev, err
}
