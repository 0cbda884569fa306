/**
 * The HTTPS API of the KMS on Vert.x 5 (docs/api.md). Thin by design: it validates requests
 * against docs/openapi.yaml, checks mailbox client certificates, runs kms-core on the
 * {@code kms-hsm} worker executor sized to the HSM session pool, and maps failures to RFC 9457
 * problem documents in one place ({@link io.imskms.api.Problems}, {@link io.imskms.api.Failure}).
 * Entry point: {@link io.imskms.api.KmsApplication}.
 */
package io.imskms.api;
