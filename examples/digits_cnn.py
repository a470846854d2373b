"""A small CNN (conv-pool-conv-pool-dense) on the 8x8 digits, TF1 tutorial style.

Ported by changing one line: `import tensorflow.compat.v1 as tf` -> `import tensorweave as tf`.
Run: `python -m examples.digits_cnn`.
"""
import numpy as np

import tensorweave as tf

from .digits import load


def conv_layer(x, in_ch, out_ch, name):
    with tf.variable_scope(name):
        w = tf.get_variable("w", [3, 3, in_ch, out_ch],
                            initializer=tf.truncated_normal_initializer(stddev=0.1))
        b = tf.get_variable("b", [out_ch], initializer=tf.constant_initializer(0.1))
        h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, w, strides=[1, 1, 1, 1],
                                                   padding="SAME"), b))
        return tf.nn.max_pool(h, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")


def main(steps: int = 400, batch: int = 64, verbose: bool = True) -> dict:
    tf.reset_default_graph()
    tf.set_random_seed(0)
    x_train, y_train, x_test, y_test = load()
    x = tf.placeholder(tf.float32, [None, 8, 8], name="x")
    y = tf.placeholder(tf.int32, [None], name="y")
    keep_prob = tf.placeholder_with_default(1.0, [], name="keep_prob")
    h = tf.reshape(x, [-1, 8, 8, 1])
    h = conv_layer(h, 1, 16, "conv1")      # -> 4x4x16
    h = conv_layer(h, 16, 32, "conv2")     # -> 2x2x32
    h = tf.reshape(h, [-1, 2 * 2 * 32])
    with tf.variable_scope("fc"):
        w = tf.get_variable("w", [128, 64])
        b = tf.get_variable("b", [64], initializer=tf.zeros_initializer())
        h = tf.nn.dropout(tf.nn.relu(tf.matmul(h, w) + b), keep_prob)
    with tf.variable_scope("out"):
        w = tf.get_variable("w", [64, 10])
        b = tf.get_variable("b", [10], initializer=tf.zeros_initializer())
        logits = tf.matmul(h, w) + b
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y,
                                                                         logits=logits))
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int32), y),
                                      tf.float32))
    global_step = tf.train.get_or_create_global_step()
    lr = tf.train.exponential_decay(0.05, global_step, 200, 0.5, staircase=True)
    train_op = tf.train.MomentumOptimizer(lr, 0.9).minimize(loss, global_step=global_step)
    rng = np.random.RandomState(0)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for step in range(1, steps + 1):
            idx = rng.randint(0, len(x_train), batch)
            sess.run(train_op, {x: x_train[idx], y: y_train[idx], keep_prob: 0.8})
            if verbose and step % 100 == 0:
                lv = sess.run(loss, {x: x_train, y: y_train})
                print(f"step {step:4d}  train loss {lv:.4f}")
        train_loss = sess.run(loss, {x: x_train, y: y_train})
        test_acc = sess.run(accuracy, {x: x_test, y: y_test})
    if verbose:
        print(f"final train loss {train_loss:.4f}, test accuracy {test_acc:.3f}")
    return {"train_loss": float(train_loss), "test_accuracy": float(test_acc)}


if __name__ == "__main__":
    main()
