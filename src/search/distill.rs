//! In-place distillation *(after slimmable networks, BigNAS and OFA)*: in a sandwich
//! weight step the largest network learns from the labels and every other path from the
//! largest network's predictions, detached.

use burn::tensor::Tensor;
use burn::tensor::activation::{log_softmax, softmax};

/// The mean over the batch of `−Σ_c softmax(teacher)_c · log softmax(student)_c`: the
/// cross-entropy of the student's logits against the teacher's soft labels. The teacher
/// is detached here, so only the student gets a gradient, `(softmax(student) −
/// softmax(teacher)) / batch` with respect to its logits.
pub fn soft_cross_entropy(student: Tensor<2>, teacher: Tensor<2>) -> Tensor<1> {
    let target = softmax(teacher.detach(), 1);
    let [batch, _] = student.dims();
    (target * log_softmax(student, 1))
        .sum()
        .neg()
        .div_scalar(batch as f64)
}
