// Package deploy holds no code: it is the home of specguard's deployment
// files (kustomize base and overlays, systemd unit, image recipe) and of the
// tests that hold them to their invariants. See docs/deploy.md.
package deploy
