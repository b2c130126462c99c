package quota

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Reading qgroups back. The kernel has no ioctl that returns one qgroup's
// numbers, so we do what `btrfs qgroup show` does: search the quota tree
// for its items. Tree ids, key types and item layouts are from
// linux/btrfs_tree.h (stable on-disk format).
const (
	rootTreeObjectID  = 1 // BTRFS_ROOT_TREE_OBJECTID: one ROOT_ITEM per subvolume
	quotaTreeObjectID = 8 // BTRFS_QUOTA_TREE_OBJECTID

	orphanObjectID  = math.MaxUint64 - 4 // BTRFS_ORPHAN_OBJECTID (-5ULL)
	orphanItemKey   = 48                 // BTRFS_ORPHAN_ITEM_KEY
	rootItemKey     = 132                // BTRFS_ROOT_ITEM_KEY
	qgroupInfoKey   = 242                // BTRFS_QGROUP_INFO_KEY
	qgroupLimitKey  = 244                // BTRFS_QGROUP_LIMIT_KEY
	subvolTopDirIno = 256                // BTRFS_FIRST_FREE_OBJECTID: inode of a subvolume's top directory

	// A qgroup id is level<<48 | id; level-0 qgroups are the subvolumes'
	// own, and their id is the subvolume id.
	qgroupLevelShift = 48

	rootItemRefsOffset = 216 // offsetof(struct btrfs_root_item, refs)
)

// treeSearchKey is struct btrfs_ioctl_search_key. The kernel returns items
// whose (objectid, type, offset) lies between the min and the max triple in
// that compound order; the fields are not separate ranges.
type treeSearchKey struct {
	TreeID      uint64
	MinObjectID uint64
	MaxObjectID uint64
	MinOffset   uint64
	MaxOffset   uint64
	MinTransID  uint64
	MaxTransID  uint64
	MinType     uint32
	MaxType     uint32
	NrItems     uint32 // in: at most this many; out: how many came back
	_           uint32
	_           [4]uint64
}

// treeSearchArgs is struct btrfs_ioctl_search_args: the key and a 4 KiB
// total result buffer.
type treeSearchArgs struct {
	Key treeSearchKey
	Buf [4096 - 104]byte
}

// inoLookupArgs is struct btrfs_ioctl_ino_lookup_args.
type inoLookupArgs struct {
	TreeID   uint64
	ObjectID uint64
	Name     [4080]byte
}

var (
	iocTreeSearch = ioc(3, 17, unsafe.Sizeof(treeSearchArgs{})) // BTRFS_IOC_TREE_SEARCH, _IOWR
	iocInoLookup  = ioc(3, 18, unsafe.Sizeof(inoLookupArgs{}))  // BTRFS_IOC_INO_LOOKUP, _IOWR
)

// treeKey is a btrfs key, ordered by objectid, then type, then offset.
type treeKey struct {
	ObjectID uint64
	Type     uint8
	Offset   uint64
}

// next is the smallest key after k; ok is false after the largest key.
func (k treeKey) next() (treeKey, bool) {
	switch {
	case k.Offset < math.MaxUint64:
		k.Offset++
	case k.Type < math.MaxUint8:
		k.Type, k.Offset = k.Type+1, 0
	case k.ObjectID < math.MaxUint64:
		k.ObjectID, k.Type, k.Offset = k.ObjectID+1, 0, 0
	default:
		return k, false
	}
	return k, true
}

func (k treeKey) after(o treeKey) bool {
	if k.ObjectID != o.ObjectID {
		return k.ObjectID > o.ObjectID
	}
	if k.Type != o.Type {
		return k.Type > o.Type
	}
	return k.Offset > o.Offset
}

// treeItem is one search result: its key and the item's on-disk bytes.
type treeItem struct {
	TransID uint64
	Key     treeKey
	Data    []byte
}

// searchHeaderSize is sizeof(struct btrfs_ioctl_search_header).
const searchHeaderSize = 32

// parseSearchResult splits the first n items out of a tree search buffer:
// each is a struct btrfs_ioctl_search_header (transid, objectid, offset as
// u64, type and len as u32, in the CPU's byte order, filled in by the
// kernel) followed by len bytes of item data (little-endian, as on disk).
func parseSearchResult(buf []byte, n uint32) ([]treeItem, error) {
	items := make([]treeItem, 0, n)
	for i := range n {
		if len(buf) < searchHeaderSize {
			return nil, fmt.Errorf("tree search result: item %d of %d: header truncated (%d bytes left)", i, n, len(buf))
		}
		ne := binary.NativeEndian
		typ, size := ne.Uint32(buf[24:]), ne.Uint32(buf[28:])
		if typ > math.MaxUint8 {
			return nil, fmt.Errorf("tree search result: item %d of %d: key type %d out of range", i, n, typ)
		}
		if uint64(len(buf)-searchHeaderSize) < uint64(size) {
			return nil, fmt.Errorf("tree search result: item %d of %d: %d bytes of data, %d left", i, n, size, len(buf)-searchHeaderSize)
		}
		items = append(items, treeItem{
			TransID: ne.Uint64(buf[0:]),
			Key:     treeKey{ObjectID: ne.Uint64(buf[8:]), Type: uint8(typ), Offset: ne.Uint64(buf[16:])},
			Data:    buf[searchHeaderSize : searchHeaderSize+size],
		})
		buf = buf[searchHeaderSize+size:]
	}
	return items, nil
}

// searchTree calls visit for every item of tree with a key in [lo, hi],
// searching again from after the last item until the range is done (one
// call returns at most a 4 KiB buffer's worth). It needs CAP_SYS_ADMIN.
func searchTree(fd int, tree uint64, lo, hi treeKey, visit func(treeItem) error) error {
	for {
		args := treeSearchArgs{Key: treeSearchKey{
			TreeID:      tree,
			MinObjectID: lo.ObjectID, MinType: uint32(lo.Type), MinOffset: lo.Offset,
			MaxObjectID: hi.ObjectID, MaxType: uint32(hi.Type), MaxOffset: hi.Offset,
			MaxTransID: math.MaxUint64,
			NrItems:    math.MaxUint32,
		}}
		if err := ioctl(fd, iocTreeSearch, unsafe.Pointer(&args)); err != nil {
			return err
		}
		if args.Key.NrItems == 0 {
			return nil
		}
		items, err := parseSearchResult(args.Buf[:], args.Key.NrItems)
		if err != nil {
			return err
		}
		for _, it := range items {
			if err := visit(it); err != nil {
				return err
			}
		}
		var ok bool
		if lo, ok = items[len(items)-1].Key.next(); !ok || lo.after(hi) {
			return nil
		}
	}
}

// searchQuotaTree is searchTree on the quota tree, which exists only while
// quotas are enabled: its absence (ENOENT) is ErrQuotaDisabled.
func searchQuotaTree(fd int, lo, hi treeKey, visit func(treeItem) error) error {
	err := searchTree(fd, quotaTreeObjectID, lo, hi, visit)
	if errors.Is(err, unix.ENOENT) {
		return ErrQuotaDisabled
	}
	if err != nil {
		return fmt.Errorf("searching the btrfs quota tree: %w", err)
	}
	return nil
}

// qgroupInfo is the part of struct btrfs_qgroup_info_item we use:
// generation, rfer, rfer_cmpr, excl, excl_cmpr.
type qgroupInfo struct {
	Referenced, Exclusive uint64
}

func parseQgroupInfo(b []byte) (qgroupInfo, error) {
	if len(b) < 40 {
		return qgroupInfo{}, fmt.Errorf("qgroup info item of %d bytes, want 40", len(b))
	}
	le := binary.LittleEndian
	return qgroupInfo{Referenced: le.Uint64(b[8:]), Exclusive: le.Uint64(b[24:])}, nil
}

// parseQgroupLimit reads struct btrfs_qgroup_limit_item (flags, max_rfer,
// max_excl, rsv_rfer, rsv_excl) and returns max_rfer, with ok false when
// the referenced-bytes limit is not set.
func parseQgroupLimit(b []byte) (maxRfer uint64, ok bool, err error) {
	if len(b) < 40 {
		return 0, false, fmt.Errorf("qgroup limit item of %d bytes, want 40", len(b))
	}
	le := binary.LittleEndian
	if le.Uint64(b[0:])&qgroupLimitMaxRfer == 0 {
		return 0, false, nil
	}
	return le.Uint64(b[8:]), true, nil
}

// subvolumeOf is the id of the subvolume holding the file open as fd. The
// kernel fills in the tree id when asked with tree 0 for the top directory
// inode, without needing privileges or a path walk.
func subvolumeOf(fd int) (uint64, error) {
	args := inoLookupArgs{ObjectID: subvolTopDirIno}
	if err := ioctl(fd, iocInoLookup, unsafe.Pointer(&args)); err != nil {
		return 0, fmt.Errorf("looking up the btrfs subvolume: %w", err)
	}
	return args.TreeID, nil
}

// QgroupUsage is the referenced bytes and the referenced-bytes limit of the
// level-0 qgroup of the subvolume holding fd (limit 0: none set). The
// kernel updates qgroup numbers when it commits a transaction, so recent
// writes show only after a commit (syncfs, or the 30 s commit interval).
// It needs CAP_SYS_ADMIN; with quotas off it is ErrQuotaDisabled.
func QgroupUsage(fd int) (referenced, limit uint64, err error) {
	id, err := subvolumeOf(fd)
	if err != nil {
		return 0, 0, err
	}
	found := false
	info := treeKey{Type: qgroupInfoKey, Offset: id}
	if err := searchQuotaTree(fd, info, info, func(it treeItem) error {
		qi, err := parseQgroupInfo(it.Data)
		referenced, found = qi.Referenced, err == nil
		return err
	}); err != nil {
		return 0, 0, err
	}
	if !found {
		// Quotas are on (the tree exists) but this subvolume has no
		// qgroup; the kernel creates one with every subvolume, so
		// something removed it.
		return 0, 0, fmt.Errorf("btrfs subvolume %d has no qgroup 0/%d", id, id)
	}
	lim := treeKey{Type: qgroupLimitKey, Offset: id}
	if err := searchQuotaTree(fd, lim, lim, func(it treeItem) error {
		l, ok, err := parseQgroupLimit(it.Data)
		if ok {
			limit = l
		}
		return err
	}); err != nil {
		return 0, 0, err
	}
	return referenced, limit, nil
}

// QgroupLimits maps subvolume id to referenced-bytes limit for every
// level-0 qgroup with such a limit on the filesystem holding fd (any
// directory on it), counting only subvolumes that still exist: a deleted
// subvolume's qgroup can outlive it (until the cleaner drops it, and on
// older kernels until `btrfs qgroup clear-stale`), and its limit no longer
// reserves anything. Filesystem size minus the sum is the space no limit
// has promised yet. It needs CAP_SYS_ADMIN; with quotas off it is
// ErrQuotaDisabled.
func QgroupLimits(fd int) (map[uint64]uint64, error) {
	limits := map[uint64]uint64{}
	lo := treeKey{Type: qgroupLimitKey}
	hi := treeKey{Type: qgroupLimitKey, Offset: 1<<qgroupLevelShift - 1}
	if err := searchQuotaTree(fd, lo, hi, func(it treeItem) error {
		l, ok, err := parseQgroupLimit(it.Data)
		if ok {
			limits[it.Key.Offset] = l
		}
		return err
	}); err != nil {
		return nil, err
	}
	for id := range limits {
		live, err := subvolumeLive(fd, id)
		if err != nil {
			return nil, err
		}
		if !live {
			delete(limits, id)
		}
	}
	return limits, nil
}

// subvolumeLive says whether subvolume id exists and is not being deleted.
// Deleting a subvolume at once adds an orphan item for it to the root tree
// and zeroes the reference count of its root item, but the new count is
// written only at the next commit, so both are checked. The root item goes
// when the cleaner has freed the subvolume's blocks.
func subvolumeLive(fd int, id uint64) (bool, error) {
	live := false
	lo := treeKey{ObjectID: id, Type: rootItemKey}
	hi := treeKey{ObjectID: id, Type: rootItemKey, Offset: math.MaxUint64}
	err := searchTree(fd, rootTreeObjectID, lo, hi, func(it treeItem) error {
		if len(it.Data) < rootItemRefsOffset+4 {
			return fmt.Errorf("root item of subvolume %d: %d bytes, too short", id, len(it.Data))
		}
		live = binary.LittleEndian.Uint32(it.Data[rootItemRefsOffset:]) != 0
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("looking up btrfs subvolume %d: %w", id, err)
	}
	if !live {
		return false, nil
	}
	orphan := treeKey{ObjectID: orphanObjectID, Type: orphanItemKey, Offset: id}
	err = searchTree(fd, rootTreeObjectID, orphan, orphan, func(treeItem) error {
		live = false
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("looking up btrfs subvolume %d: %w", id, err)
	}
	return live, nil
}
