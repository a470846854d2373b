"""A softmax MLP trained with Adam on the 8x8 digits (TF1 tutorial style).

Ported by changing one line: `import tensorflow.compat.v1 as tf` -> `import tensorweave as tf`.
Run: `python -m examples.digits_mlp`.
"""
import numpy as np

import tensorweave as tf

from .digits import load


def main(steps: int = 600, batch: int = 64, verbose: bool = True) -> dict:
    tf.reset_default_graph()
    tf.set_random_seed(0)
    x_train, y_train, x_test, y_test = load()
    x = tf.placeholder(tf.float32, [None, 64], name="x")
    y = tf.placeholder(tf.int64, [None], name="y")
    with tf.variable_scope("hidden"):
        w1 = tf.get_variable("w", [64, 128])
        b1 = tf.get_variable("b", [128], initializer=tf.zeros_initializer())
        h = tf.nn.relu(tf.matmul(x, w1) + b1)
    with tf.variable_scope("softmax"):
        w2 = tf.get_variable("w", [128, 10])
        b2 = tf.get_variable("b", [10], initializer=tf.zeros_initializer())
        logits = tf.matmul(h, w2) + b2
    onehot = tf.one_hot(y, 10)
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=onehot,
                                                                     logits=logits))
    correct = tf.equal(tf.argmax(logits, 1), y)
    accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))
    train_op = tf.train.AdamOptimizer(learning_rate=0.003).minimize(loss)
    xtr, xte = x_train.reshape(-1, 64), x_test.reshape(-1, 64)
    rng = np.random.RandomState(0)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for step in range(1, steps + 1):
            idx = rng.randint(0, len(xtr), batch)
            sess.run(train_op, {x: xtr[idx], y: y_train[idx]})
            if verbose and step % 100 == 0:
                lv = sess.run(loss, {x: xtr, y: y_train})
                print(f"step {step:4d}  train loss {lv:.4f}")
        train_loss = sess.run(loss, {x: xtr, y: y_train})
        test_acc = sess.run(accuracy, {x: xte, y: y_test})
    if verbose:
        print(f"final train loss {train_loss:.4f}, test accuracy {test_acc:.3f}")
    return {"train_loss": float(train_loss), "test_accuracy": float(test_acc)}


if __name__ == "__main__":
    main()
