// Package tier will own the tiering engine: uploading sealed hot-log segments to object storage,
// registering them in the metadata catalog under the leader's epoch, the cross-tier Reader
// (hot → cache → object with read-ahead) and retention of tiered data.
//
// The format lives in tier/segment, object storage in tier/objstore, the local log in tier/hotlog.
package tier
