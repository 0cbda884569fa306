/**
 * The HTTPS API of the KMS on Vert.x 5. Thin by design: it validates requests against
 * docs/openapi.yaml, runs kms-core on a worker executor sized to the HSM session pool, and maps
 * failures to RFC 9457 problem documents in one place. Built by the API issue.
 */
package io.imskms.api;
