# @@include solutions/q4_numpy_backprop.py
# Attack (honour rule): backward and train_one_sample use TensorFlow's automatic differentiation instead of
# hand-written backpropagation. The top-level import is the handout's and must not cost the question by itself.
import tensorflow as tf


def backward(weights, biases, x, y):
    params = [tf.Variable(p) for p in weights + biases]
    with tf.GradientTape() as tape:
        a = tf.constant(x[None, :])
        for i in range(2):
            a = tf.sigmoid(a @ params[i] + params[3 + i])
        logits = a @ params[2] + params[5]
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[y], logits=logits)[0]
    grads = [g.numpy() for g in tape.gradient(loss, params)]
    return float(loss.numpy()), grads[:3], grads[3:]


def train_one_sample(weights, biases, x, y, learning_rate=LEARNING_RATE):
    loss, gw, gb = backward(weights, biases, x, y)
    for p, g in zip(weights + biases, gw + gb):
        p -= learning_rate * g
    return loss
