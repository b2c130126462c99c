package policy

// User-visible names. They are part of the product's interface (the
// README's "StorageClass parameters" and "Annotations" tables list them):
// changing one breaks installed clusters.
const (
	// ProvisionerName is the StorageClass `provisioner:` we serve.
	ProvisionerName = "hostpath.dev/provisioner"
	// LegacyProvisionerName is the name used by the original
	// hostpath-provisioner; its volumes are adopted and deleted correctly.
	LegacyProvisionerName = "hostpath"
	// DefaultClassName is the StorageClass given to class-less claims.
	DefaultClassName = "hostpath"
	// DefaultBasePath is where volumes live on the node.
	DefaultBasePath = "/var/kubernetes"
	// DefaultBasePathName names the base path of --base-path (PV_DIR): the
	// one a class without a basePath parameter uses.
	DefaultBasePathName = "default"

	// Prefix is the annotation and label prefix we own.
	Prefix = "hostpath.dev/"

	// AnnOnDelete on a claim (set by users) and on a PV (set by us) says
	// what happens to the directory when the claim is deleted.
	AnnOnDelete = Prefix + "on-delete"
	// AnnNode on a PV records the node whose base path holds the directory.
	AnnNode = Prefix + "node"
	// AnnPath on a PV records the directory relative to the base path.
	AnnPath = Prefix + "path"
	// AnnBasePath on a PV records the base path the directory was made in,
	// so a volume stays deletable after the base path flag changes.
	AnnBasePath = Prefix + "base-path"

	// AnnQuota on a PV says how its size is enforced: "btrfs" (a subvolume
	// with a qgroup limit), "project" (an XFS/ext4 project quota) or "none"
	// (the size is only recorded).
	AnnQuota = Prefix + "quota"
	// AnnClonedFrom on a PV names the claim (<namespace>/<name>) whose data
	// it started with.
	AnnClonedFrom = Prefix + "cloned-from"

	// AnnNamespaceDefaultClass on a Namespace names the class the webhook
	// gives class-less claims in that namespace.
	AnnNamespaceDefaultClass = Prefix + "default-class"
	// AnnNamespaceMaxSize on a Namespace caps the size of any one claim.
	AnnNamespaceMaxSize = Prefix + "max-size"

	// AnnLegacyIdentity is set by the original provisioner on its PVs; its
	// value is the node name the volume was created on.
	AnnLegacyIdentity = "hostPathProvisionerIdentity"

	// AnnSelectedNode is set by the scheduler on WaitForFirstConsumer claims.
	AnnSelectedNode = "volume.kubernetes.io/selected-node"
	// AnnBetaStorageClass is the pre-GA way of naming a claim's class.
	AnnBetaStorageClass = "volume.beta.kubernetes.io/storage-class"
	// AnnIsDefaultClass marks the cluster's default StorageClass.
	AnnIsDefaultClass = "storageclass.kubernetes.io/is-default-class"
	// AnnBetaIsDefaultClass is the beta form of AnnIsDefaultClass.
	AnnBetaIsDefaultClass = "storageclass.beta.kubernetes.io/is-default-class"
)

// ClaimAnnotations are the hostpath.dev/ annotations a user may put on a
// PersistentVolumeClaim. Anything else under the prefix is a typo.
var ClaimAnnotations = []string{AnnOnDelete}

// NamespaceAnnotations are the hostpath.dev/ annotations read from a Namespace.
var NamespaceAnnotations = []string{AnnNamespaceDefaultClass, AnnNamespaceMaxSize}

// IsOurProvisioner reports whether a StorageClass provisioner name is served
// by this binary (the current name or the original's).
func IsOurProvisioner(name, configured string) bool {
	return name == configured || name == LegacyProvisionerName
}
