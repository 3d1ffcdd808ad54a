package io.bagpipe.bag;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigValueType;
import java.util.List;

/**
 * The loss weight of each class ({@code bagpipe.train.class-weights}): none, balanced from the
 * training slides' labels, or given. Balanced is scikit-learn's rule, {@code n / (k * n_c)} for
 * n training slides, k classes and n_c slides of class c, so the mean weight over the training
 * slides is 1. Every node computes it from the same manifest and gets the same weights.
 */
public final class ClassWeights {

  private static final String KEY = "bagpipe.train.class-weights";

  private ClassWeights() {}

  /**
   * Reads {@code class-weights} of {@code train} ({@code bagpipe.train}) for {@code classes} classes.
   *
   * @return the weights, or null for none
   * @throws ConfigException.BadValue naming the key: an unknown word, a list of the wrong length or
   *     with a weight that is not positive, or balanced weights for a class no training slide has
   */
  public static float[] fromConfig(Config train, List<SlideEntry> trainSlides, int classes) {
    var value = train.getValue("class-weights");
    if (value.valueType() == ConfigValueType.LIST) {
      List<Double> list;
      try {
        list = train.getDoubleList("class-weights");
      } catch (ConfigException.WrongType e) {
        throw new ConfigException.BadValue(value.origin(), KEY, "must be none, balanced or a list of numbers");
      }
      if (list.size() != classes) {
        throw new ConfigException.BadValue(value.origin(), KEY, "lists " + list.size() + " weights for "
            + classes + " classes (bagpipe.model.classes)");
      }
      float[] w = new float[classes];
      for (int c = 0; c < classes; c++) {
        double d = list.get(c);
        if (!(d > 0) || Double.isInfinite(d)) {
          throw new ConfigException.BadValue(value.origin(), KEY, "weight " + c + " must be positive, got " + d);
        }
        w[c] = (float) d;
      }
      return w;
    }
    String word = value.valueType() == ConfigValueType.STRING ? train.getString("class-weights") : value.render();
    return switch (word) {
      case "none" -> null;
      case "balanced" -> balanced(trainSlides, classes, value);
      default -> throw new ConfigException.BadValue(value.origin(), KEY,
          "\"" + word + "\" is not none, balanced or a list [w0, w1, ...]");
    };
  }

  private static float[] balanced(List<SlideEntry> slides, int classes, com.typesafe.config.ConfigValue value) {
    long[] counts = new long[classes];
    for (SlideEntry s : slides) {
      counts[s.label()]++;
    }
    float[] w = new float[classes];
    for (int c = 0; c < classes; c++) {
      if (counts[c] == 0) {
        throw new ConfigException.BadValue(value.origin(), KEY, "balanced: no training slide has class " + c
            + "; list the weights instead");
      }
      w[c] = (float) ((double) slides.size() / ((double) classes * counts[c]));
    }
    return w;
  }
}
