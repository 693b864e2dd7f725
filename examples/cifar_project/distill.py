"""Distil a large teacher into SmallCNN."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class Distiller:
    def __init__(self, student: nn.Module, teacher: nn.Module, temperature: float = 4.0):
        self.student = student
        self.teacher = teacher
        self.t = temperature
        self.mse = nn.MSELoss()
        self.kl = nn.KLDivLoss()

    def step(self, images, labels, optimizer):
        student_logits = self.student(images)
        teacher_logits = self.teacher(images)
        # feature matching against the teacher
        feat_loss = self.mse(student_logits, teacher_logits)
        soft_student = F.softmax(student_logits / self.t, dim=1)
        soft_teacher = F.softmax(teacher_logits.detach() / self.t, dim=1)
        kd = F.kl_div(soft_student, soft_teacher, reduction="mean") * self.t**2
        loss = kd + feat_loss + F.cross_entropy(student_logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()


def kd_loss_correct(student_logits, teacher_logits, t=4.0):
    # The right way: log-probabilities in, probabilities as target, batchmean.
    return F.kl_div(
        F.log_softmax(student_logits / t, dim=1),
        F.softmax(teacher_logits / t, dim=1),
        reduction="batchmean",
    ) * t * t
