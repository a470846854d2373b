"""Linear regression, the classic TF1 tutorial (placeholders, variables, gradient descent).

Ported from TF1 by changing one line: `import tensorflow.compat.v1 as tf` ->
`import tensorweave as tf`.  Data: the 17-point toy set of the TF1 examples.
Run: `python -m examples.linear_regression`.
"""
import numpy as np

import tensorweave as tf

TRAIN_X = np.asarray([3.3, 4.4, 5.5, 6.71, 6.93, 4.168, 9.779, 6.182, 7.59, 2.167, 7.042,
                      10.791, 5.313, 7.997, 5.654, 9.27, 3.1])
TRAIN_Y = np.asarray([1.7, 2.76, 2.09, 3.19, 1.694, 1.573, 3.366, 2.596, 2.53, 1.221, 2.827,
                      3.465, 1.65, 2.904, 2.42, 2.94, 1.3])


def main(epochs: int = 1000, learning_rate: float = 0.01, verbose: bool = True) -> dict:
    tf.reset_default_graph()
    n = TRAIN_X.shape[0]
    X = tf.placeholder("float")
    Y = tf.placeholder("float")
    W = tf.Variable(0.3, name="weight")
    b = tf.Variable(-0.2, name="bias")
    pred = tf.add(tf.multiply(X, W), b)
    cost = tf.reduce_sum(tf.pow(pred - Y, 2)) / (2 * n)
    optimizer = tf.train.GradientDescentOptimizer(learning_rate).minimize(cost)
    init = tf.global_variables_initializer()
    with tf.Session() as sess:
        sess.run(init)
        for epoch in range(epochs):
            for x, y in zip(TRAIN_X, TRAIN_Y):
                sess.run(optimizer, feed_dict={X: x, Y: y})
            if verbose and (epoch + 1) % 200 == 0:
                c = sess.run(cost, feed_dict={X: TRAIN_X, Y: TRAIN_Y})
                print(f"epoch {epoch + 1:4d}  cost {c:.6f}  W {sess.run(W):.4f}  "
                      f"b {sess.run(b):.4f}")
        cost_v = sess.run(cost, feed_dict={X: TRAIN_X, Y: TRAIN_Y})
        return {"cost": float(cost_v), "W": float(sess.run(W)), "b": float(sess.run(b))}


if __name__ == "__main__":
    main()
