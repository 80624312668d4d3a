// Package kmodtest builds fake kernel modules and module trees for the
// tests of package kmod and its users: an ELF .ko with a .modinfo section
// (ModuleELF), files laid out as in lib/modules/<release> (WriteFiles) and
// the NUL-separated fields of modules.builtin.modinfo (BuiltinModinfo).
package kmodtest
