package io.imskms.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.imskms.core.replay.ReplayException;
import io.imskms.hsm.HsmException;
import io.imskms.protocol.ErrorCode;
import org.junit.jupiter.api.Test;

/** The one place where adapter, replay-cache and codec failures become client error codes. */
class KmsExceptionTest {

  @Test
  void hsmFailures_mapToTheDocumentedCodes() {
    assertEquals(ErrorCode.INTEGRITY,
        KmsException.of(new HsmException(HsmException.Kind.INTEGRITY, "x")).code());
    assertEquals(ErrorCode.HSM_UNAVAILABLE,
        KmsException.of(new HsmException(HsmException.Kind.UNAVAILABLE, "x")).code());
    assertEquals(ErrorCode.UNKNOWN_KEY_VERSION,
        KmsException.of(new HsmException(HsmException.Kind.KEY_NOT_FOUND, "x")).code());
    assertEquals(ErrorCode.INTERNAL,
        KmsException.of(new HsmException(HsmException.Kind.POLICY, "x")).code());
    assertEquals(ErrorCode.INTERNAL,
        KmsException.of(new HsmException(HsmException.Kind.MISCONFIGURATION, "x")).code());
  }

  @Test
  void replayRefusals_mapToTheDocumentedCodes() {
    assertEquals(ErrorCode.STALE_TIMESTAMP, KmsException.of(
        new ReplayException(ReplayException.Reason.STALE_TIMESTAMP, "x")).code());
    assertEquals(ErrorCode.REPLAY,
        KmsException.of(new ReplayException(ReplayException.Reason.REPLAY, "x")).code());
    assertEquals(ErrorCode.BUSY,
        KmsException.of(new ReplayException(ReplayException.Reason.CAPACITY, "x")).code());
  }

  @Test
  void errorResponse_isThreeBytes_versionTypeCode() {
    assertArrayEquals(new byte[] {1, 0x7f, 3},
        new KmsException(ErrorCode.WRONG_MAILBOX, "detail for the log").toErrorResponse());
  }
}
