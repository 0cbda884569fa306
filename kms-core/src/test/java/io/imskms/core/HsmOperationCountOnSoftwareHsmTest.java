package io.imskms.core;

/**
 * {@link HsmOperationCountTest}'s cases on {@link io.imskms.hsm.InsecureSoftwareHsm}: the same protocol checks in
 * milliseconds and without a token, so that mutation testing (PIT, docs/assurance.md) can run them
 * for every mutant. The real-token run of the same cases stays the proof.
 */
class HsmOperationCountOnSoftwareHsmTest extends HsmOperationCountTest {
  @Override
  KmsFixture newFixture() throws Exception {
    return KmsFixture.onSoftwareHsm();
  }

  @Override
  boolean sharesKeys() {
    return false;
  }
}
