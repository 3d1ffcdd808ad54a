package io.bagpipe.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** Clipping by global norm, as torch.nn.utils.clip_grad_norm_. */
class GradientClippingTest {

  @Test
  void aLargeGradientIsScaledToTheMaximumNorm() {
    float[] g = {3, 4, 0, 0}; // norm 5
    double norm = GradientClipping.clip(g, 1.0);
    assertEquals(5.0, norm, 1e-12);
    float c = (float) (1.0 / (5.0 + 1e-6));
    assertArrayEquals(new float[] {3 * c, 4 * c, 0, 0}, g);
    assertEquals(1.0, GradientClipping.norm(g), 1e-6);
  }

  @Test
  void aSmallGradientAndZeroMaximumAreLeftAlone() {
    float[] g = {0.3f, 0.4f};
    GradientClipping.clip(g, 1.0);
    assertArrayEquals(new float[] {0.3f, 0.4f}, g);
    float[] h = {30f, 40f};
    assertEquals(Double.NaN, GradientClipping.clip(h, 0));
    assertArrayEquals(new float[] {30f, 40f}, h);
    assertThrows(IllegalArgumentException.class, () -> GradientClipping.clip(h, -1));
  }

  /** A flat vector of gradient and BatchNorm statistics' changes: only the gradient counts and is scaled. */
  @Test
  void onlyTheGradientPartOfAFlatVectorIsClipped() {
    float[] flat = {3f, 4f, 100f, -7f};
    assertEquals(5.0, GradientClipping.clip(flat, 2, 1.0), 1e-6);
    assertEquals(1.0, GradientClipping.norm(new float[] {flat[0], flat[1]}), 1e-6);
    assertArrayEquals(new float[] {100f, -7f}, new float[] {flat[2], flat[3]});
  }
}
