package io.imskms.client;

import io.imskms.protocol.ErrorResponse;
import io.imskms.protocol.ProtocolException;
import io.imskms.protocol.Wire;

final class Responses {
  private Responses() {}

  /** Turns a KMS error message into its {@link ProtocolException}; otherwise returns. */
  static void throwIfError(byte[] response) throws ProtocolException {
    if (response != null && response.length == 3 && response[1] == (byte) Wire.T_ERROR) {
      throw new ProtocolException(ErrorResponse.decode(response).code(), "refused by the KMS");
    }
  }
}
