package kmod

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"strings"
)

// ModInfo is what a module's .modinfo section says about it.
type ModInfo struct {
	Name    string   // name=, with '-' already turned into '_' by the kernel build
	Depends []string // depends=, the modules whose symbols it uses
	SoftPre []string // softdep=pre: ..., names or aliases to load before it
	Aliases []string // alias=, other names it is requested by
}

// maxModinfo bounds the .modinfo section we are willing to read; real ones
// are a few KiB.
const maxModinfo = 1 << 20

// ReadModInfo parses the .modinfo section of the ELF relocatable module in r.
func ReadModInfo(r io.ReaderAt) (ModInfo, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return ModInfo{}, fmt.Errorf("read module ELF: %w", err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return ModInfo{}, fmt.Errorf("module has no .modinfo section")
	}
	if sec.Size > maxModinfo {
		return ModInfo{}, fmt.Errorf(".modinfo section is %d bytes, more than %d", sec.Size, maxModinfo)
	}
	data, err := sec.Data()
	if err != nil {
		return ModInfo{}, fmt.Errorf("read .modinfo: %w", err)
	}
	return parseModInfo(data)
}

// parseModInfo reads the NUL-separated key=value strings of a .modinfo section.
func parseModInfo(data []byte) (ModInfo, error) {
	var mi ModInfo
	for _, field := range bytes.Split(data, []byte{0}) {
		key, value, ok := strings.Cut(string(field), "=")
		if !ok {
			continue // padding between strings
		}
		switch key {
		case "name":
			mi.Name = value
		case "depends":
			mi.Depends = splitList(value, ",")
		case "softdep":
			mi.SoftPre = append(mi.SoftPre, parseSoftdepPre(value)...)
		case "alias":
			mi.Aliases = append(mi.Aliases, value)
		}
	}
	if mi.Name == "" {
		return ModInfo{}, fmt.Errorf(".modinfo has no name= field")
	}
	return mi, nil
}

// parseSoftdepPre returns the "pre:" names of a softdep value such as
// "pre: crc32c post: foo".
func parseSoftdepPre(value string) []string {
	var pre []string
	inPre := false
	for _, word := range strings.Fields(value) {
		switch word {
		case "pre:":
			inPre = true
		case "post:":
			inPre = false
		default:
			if inPre {
				pre = append(pre, word)
			}
		}
	}
	return pre
}

func splitList(s, sep string) []string {
	var out []string
	for _, part := range strings.Split(s, sep) {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// NormalizeName turns a module file or user spelling ("kvm-amd.ko") into the
// kernel's module name ("kvm_amd").
func NormalizeName(s string) string {
	s = s[strings.LastIndexByte(s, '/')+1:]
	for _, ext := range []string{".ko.xz", ".ko.zst", ".ko.gz", ".ko"} {
		if strings.HasSuffix(s, ext) {
			s = strings.TrimSuffix(s, ext)
			break
		}
	}
	return strings.ReplaceAll(s, "-", "_")
}
