package io.imskms.api;

import io.imskms.core.KmsException;
import io.imskms.protocol.BootstrapRequest;
import io.imskms.protocol.BootstrapResponse;
import io.imskms.protocol.MailboxKeyRequest;
import io.imskms.protocol.MailboxKeyResponse;
import io.imskms.protocol.RetrievalRequest;
import io.imskms.protocol.RetrievalResponse;

/**
 * What the HTTP API asks of the KMS: one method per protocol endpoint, taking the decoded request
 * and returning the response message. Implementations block on the HSM; the server calls them
 * only on its HSM worker executor, never on an event loop.
 *
 * <p>Security guarantees: an implementation reports every refusal as a {@link KmsException}
 * whose {@link io.imskms.protocol.ErrorCode} is all the client learns. Authentication of the
 * transport (mutual TLS of a mailbox) is the server's job and has happened before the call.
 */
public interface KmsOperations {

  /** Steps 1a/1b/1m: bootstrapping. */
  BootstrapResponse bootstrap(BootstrapRequest request) throws KmsException;

  /** Figure 17 steps 4–6, with Figure 19 when {@link MailboxKeyRequest#wantE2m()}. */
  MailboxKeyResponse mailboxKeyRequest(MailboxKeyRequest request) throws KmsException;

  /** Figure 18 steps 4–6: UE-B retrieves K. */
  RetrievalResponse retrieve(RetrievalRequest request) throws KmsException;
}
