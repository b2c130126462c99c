// Package volume is the life of a volume directory below the base path of
// one node: it creates, removes, archives, clones, resizes and measures
// volume directories, and keeps them from nesting.
//
// The pieces, one file each:
//
//   - store.go: a volume's life (Create, Remove, Archive, Resize, Space).
//   - registry.go: which directories are volumes (below).
//   - clone.go: a clone's side of it (lock, temporary directory, registry,
//     limit, rename into place); the tree itself is copied by package
//     copytree, or snapshotted where the quota backend can.
//   - usage.go: how much a volume uses.
//   - quota.go: the quota backend, chosen once when the base path is
//     opened, that holds volumes to their sizes: quota_none.go,
//     quota_btrfs.go (subvolumes, qgroups, snapshots), quota_project.go
//     (project quotas on XFS and ext4). The kernel calls are package
//     quota's.
//
// The boundary it keeps is the volume, not only the base path. The owner
// of a volume is root inside it and can put anything there: symlinks to
// anywhere, swaps while we work. So:
//
//   - No symlink is ever followed below the base path, in any component,
//     by any operation. The base path is held open and every path below it
//     is resolved through package beneath (openat2 with RESOLVE_BENEATH and
//     RESOLVE_NO_SYMLINKS, or an O_NOFOLLOW walk from the held descriptor).
//     A component that is a symlink means touching nothing: the error
//     wraps a *beneath.SymlinkError that names the component. Trees are
//     walked, copied and removed from descriptors, one name at a time.
//   - Volumes never nest: no volume's directory is inside another's or
//     holds one, retained and archived volumes included.
//
// How a volume is recognised on disk: by the registry in the base path,
// the directory .hostpath-provisioner (mode 0700, made and written only by
// this process). It lies outside every volume, because no volume path has
// a component that starts with "." (the path policy renders none and
// Create refuses them), so no tenant can reach it. Nothing a tenant can
// change (files, extended attributes, mode, owner of its own directory)
// takes part. It holds
//
//   - volumes/<sha256 of the path>: one per volume directory, holding the
//     path and the PV name. Create writes it (synced) before it makes the
//     directory, Clone before it renames the finished clone into place,
//     Archive for the archive's name; Remove deletes it once the tree is
//     gone. A retained volume keeps it forever, so its directory still
//     blocks nesting after its PV is deleted. An entry whose directory does
//     not exist blocks nothing. Register adopts the volumes of older
//     versions, which kept no registry.
//   - parents/<sha256 of the path>: one per parent directory the store made
//     for a nested pathPattern. After a removal or an archive only those
//     are cleaned up, and only while they are empty and not volumes
//     themselves: an admin's directory is never removed, nor a directory
//     that is or holds a volume.
//
// Create refuses a path below a registered volume whose directory exists
// (ErrNested) and a path that exists and is not empty (ErrCollision, which
// covers a new volume that would hold an existing one); Remove and Archive
// refuse a volume that holds another (left by an older version). The
// structural steps (check, register, make, rename, unregister, prune) are
// serialised within the process. A second process on the same base path,
// as during a rollout whose old and new pods overlap, is not serialised
// with this one; that would need a lock on the filesystem.
package volume
