"""rootfs_overlay (placeholder)."""
