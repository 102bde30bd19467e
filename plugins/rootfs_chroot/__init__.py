"""rootfs_chroot (placeholder)."""
