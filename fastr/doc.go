// Package fastr implements Fastr, the HTTP object protocol of the LocalHttp
// and FastrServer cloud types. The Amove spec only names it; the protocol is
// ours and is written down in docs/fastr.md.
//
// The package holds both ends:
//
//   - [Server] (from [NewServer]) is the reference server: an http.Handler
//     that keeps buckets and objects in a directory, verifies signed and
//     presigned requests, runs chunked upload sessions with per-part
//     checksums, and pushes objects to another Fastr server (P2P).
//     `amove fastr serve` runs one; tests mount it on httptest servers.
//   - [Client] (from [NewClient]) speaks the protocol to one server with one
//     key pair. The provider/fastr driver, the push engine and the agent are
//     built on it.
//
// The helpers [SignRequest], [PresignURL], [StringToSign] and [Signature]
// are exported so that another implementation can check its signatures
// against this one.
package fastr
