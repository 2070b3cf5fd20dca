// Package vmtest holds the VM tests of the site image: they boot the
// images `make images` built under QEMU (software emulation) with swtpm,
// and check them from the outside as an operator would. They run when
// SKERRY_VMTEST=1 (make test sets it) and skip otherwise.
package vmtest
