package io.imskms.core;

import io.imskms.core.principals.PrincipalRegistry;
import io.imskms.hsm.InsecureSoftwareHsm;

/**
 * {@link PrincipalRevocationTest}'s cases on {@link InsecureSoftwareHsm}: the same revocation
 * checks in milliseconds and without a token, so that mutation testing (PIT, docs/assurance.md)
 * can run them for every mutant. The real-token run of the same cases stays the proof.
 */
class PrincipalRevocationOnSoftwareHsmTest extends PrincipalRevocationTest {
  @Override
  KmsFixture newFixture() throws Exception {
    return KmsFixture.onSoftwareHsm();
  }

  @Override
  void removeTheRecordBehindTheKms() {
    ((InsecureSoftwareHsm) f.hsm).deleteDataObjectsForTest(PrincipalRegistry.OBJECT_LABEL);
  }
}
