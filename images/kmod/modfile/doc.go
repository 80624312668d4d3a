// Package modfile opens kernel module files whatever their compression:
// plain .ko, or .ko.xz, .ko.zst and .ko.gz as kernels built with
// CONFIG_MODULE_COMPRESS_XZ, _ZSTD or _GZIP install them (Debian's 6.12
// kernels ship .ko.xz). Open is the kmod.Opener that images/cmd/mkimage
// hands to kmod.ScanTree and Index.WriteTree, so the images hold every
// module uncompressed and the guest loads it with a plain finit_module.
//
// It lives apart from package kmod so that the guest's init, which reads
// only the uncompressed tree the pipeline wrote, does not link the xz and
// zstd decoders (github.com/ulikunitz/xz, github.com/klauspost/compress:
// the standard library has neither).
package modfile
