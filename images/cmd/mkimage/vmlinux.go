package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
)

// Offsets in the bzImage setup header (Documentation/arch/x86/boot.rst).
const (
	offSetupSects    = 0x1f1 // setup_sects: 512-byte sectors of real-mode setup code; 0 means 4
	offHeaderMagic   = 0x202 // header: "HdrS"
	offVersion       = 0x206 // version: boot protocol, major<<8|minor
	offPayloadOffset = 0x248 // payload_offset: from the protected-mode code start (protocol 2.08+)
	offPayloadLength = 0x24c // payload_length
	minVersion       = 0x0208
	headerEnd        = 0x250
)

// payloadRange returns where the compressed kernel lies inside a bzImage.
func payloadRange(img []byte) (start, length int, err error) {
	if len(img) < headerEnd {
		return 0, 0, fmt.Errorf("file is %d bytes, too short for a bzImage header", len(img))
	}
	if string(img[offHeaderMagic:offHeaderMagic+4]) != "HdrS" {
		return 0, 0, fmt.Errorf("no HdrS magic at 0x%x: not a bzImage", offHeaderMagic)
	}
	if v := binary.LittleEndian.Uint16(img[offVersion:]); v < minVersion {
		return 0, 0, fmt.Errorf("boot protocol %d.%02d predates payload fields (2.08)", v>>8, v&0xff)
	}
	sects := int(img[offSetupSects])
	if sects == 0 {
		sects = 4
	}
	pmStart := (sects + 1) * 512
	off := int64(binary.LittleEndian.Uint32(img[offPayloadOffset:]))
	n := int64(binary.LittleEndian.Uint32(img[offPayloadLength:]))
	end := int64(pmStart) + off + n
	if n == 0 || end > int64(len(img)) {
		return 0, 0, fmt.Errorf("payload [0x%x, 0x%x) lies outside the %d-byte file", int64(pmStart)+off, end, len(img))
	}
	return pmStart + int(off), int(n), nil
}

// decompressor names the command that unpacks a payload, from its magic.
func decompressor(payload []byte) ([]string, error) {
	magics := []struct {
		magic []byte
		cmd   []string
	}{
		{[]byte{0xfd, '7', 'z', 'X', 'Z', 0}, []string{"xz", "-dc", "--single-stream"}},
		{[]byte{0x28, 0xb5, 0x2f, 0xfd}, []string{"zstd", "-dc"}},
		{[]byte{0x1f, 0x8b}, []string{"gzip", "-dc"}},
		{[]byte{0x5d, 0, 0}, []string{"xz", "-dc", "--format=lzma"}},
		{[]byte("BZh"), []string{"bzip2", "-dc"}},
		{[]byte{0x02, 0x21, 0x4c, 0x18}, []string{"lz4", "-dc"}},
	}
	for _, m := range magics {
		if bytes.HasPrefix(payload, m.magic) {
			return m.cmd, nil
		}
	}
	return nil, fmt.Errorf("unknown payload compression (first bytes % x)", payload[:min(len(payload), 6)])
}

func runVmlinux(args []string) error {
	fs := flag.NewFlagSet("vmlinux", flag.ContinueOnError)
	from := fs.String("from", "", "bzImage (vmlinuz)")
	to := fs.String("to", "", "output ELF vmlinux")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" || *to == "" {
		return fmt.Errorf("need -from and -to")
	}
	img, err := os.ReadFile(*from)
	if err != nil {
		return err
	}
	start, n, err := payloadRange(img)
	if err != nil {
		return fmt.Errorf("%s: %w", *from, err)
	}
	payload := img[start : start+n]
	argv, err := decompressor(payload)
	if err != nil {
		return fmt.Errorf("%s: %w", *from, err)
	}
	var out, errOut bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(payload)
	cmd.Stdout = &out
	cmd.Stderr = &errOut
	// The payload carries a trailing size word some tools call garbage, so
	// judge the result by its ELF magic rather than the exit status alone.
	runErr := cmd.Run()
	if !bytes.HasPrefix(out.Bytes(), []byte("\x7fELF")) {
		return fmt.Errorf("%s did not produce an ELF file (%v: %s); install the tool (apt-get install -y xz-utils zstd)",
			argv[0], runErr, bytes.TrimSpace(errOut.Bytes()))
	}
	return writeIfChanged(*to, 0o644, func(w io.Writer) error {
		_, err := w.Write(out.Bytes())
		return err
	})
}
