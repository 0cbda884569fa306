package io.imskms.core.enrolment;

import io.imskms.core.KmsException;

/**
 * Enrolment: gives a principal its long-term credential Kp, once, as a file only that device can
 * open. Called by an operator tool after the operator has checked who the device belongs to; it
 * is not a network-facing step of the protocol.
 *
 * <p>Security guarantees: Kp leaves the HSM only wrapped, under a key that only the holder of the
 * device's private key can compute; the file names its principal, role and credential version.
 */
public interface Enrolment {
  /** Serves an encoded {@code EnrolmentRequest}; returns the encoded {@code EnrolmentFile}. */
  byte[] enrol(byte[] request) throws KmsException;
}
