// Package deploy holds no product code: its tests check the compose file and the Kubernetes
// manifests in this directory against the strata binary's real flags, offline (go test ./deploy).
package deploy
